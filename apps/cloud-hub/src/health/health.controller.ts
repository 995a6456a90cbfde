import { ConfigService } from '@nestjs/config';
import { Controller, Get, HttpCode, Inject, Res, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService } from '@nestjs/terminus';
import { type CloudConfig } from '@nowconnect/ha-config';
import { HubReadinessIndicator } from './readiness.indicator';

/** The part of Express's response we use (no @types/express dependency). */
interface JsonResponse {
  status(code: number): { json(body: unknown): void };
}

interface IndicatorDetail {
  status?: string;
}

/** /healthz (liveness) and /readyz (readiness) per SPEC §6. */
@Controller()
export class HealthController {
  /** The sections of the parsed config this component reads (through the typed ConfigService). */
  private readonly config: Pick<CloudConfig, 'ha'>;

  constructor(
    private readonly health: HealthCheckService,
    private readonly readiness: HubReadinessIndicator,
    configService: ConfigService<CloudConfig, true>,
  ) {
    this.config = { ha: configService.get('ha', { infer: true }) };
  }

  @Get('healthz')
  @HttpCode(200)
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * 200 `ready`; 503 `not_ready` while starting or draining; `degraded` (HTTP status
   * `ha.readiness_degraded_code`, 503 by default) when, in HA active mode, the registry or the
   * mesh is impaired — `impaired` names which.
   */
  @Get('readyz')
  async readyz(@Res() res: JsonResponse): Promise<void> {
    try {
      const result = await this.health.check(this.readiness.indicators());
      res.status(200).json({ status: 'ready', details: result.details });
    } catch (err) {
      const details = (err instanceof ServiceUnavailableException ? (err.getResponse() as { details?: Record<string, IndicatorDetail> }).details : undefined) ?? {};
      if (details['hub']?.status !== 'up') {
        res.status(503).json({ status: 'not_ready', details });
        return;
      }
      const impaired = Object.keys(details).filter((k) => details[k]?.status === 'down');
      res.status(this.config.ha.readinessDegradedCode).json({ status: 'degraded', impaired, details });
    }
  }
}
