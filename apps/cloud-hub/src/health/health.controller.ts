import { Controller, Get, HttpCode, Res, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService } from '@nestjs/terminus';
import { HubReadinessIndicator } from './readiness.indicator';

/** The part of Express's response we use (no @types/express dependency). */
interface JsonResponse {
  status(code: number): { json(body: unknown): void };
}

/** /healthz (liveness) and /readyz (readiness) per SPEC §6. */
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly readiness: HubReadinessIndicator,
  ) {}

  @Get('healthz')
  @HttpCode(200)
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res() res: JsonResponse): Promise<void> {
    try {
      const result = await this.health.check([() => this.readiness.check()]);
      res.status(200).json({ status: 'ready', details: result.details });
    } catch (err) {
      const details = err instanceof ServiceUnavailableException ? (err.getResponse() as { details?: unknown }).details : undefined;
      res.status(503).json({ status: 'not_ready', details });
    }
  }
}
