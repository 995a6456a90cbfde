import { DynamicModule, Module } from '@nestjs/common';
import { HaConfigModule, type PremiseConfig } from '@nowconnect/ha-config';
import { FramesModule } from '@nowconnect/frames';
import { FlowModule } from '@nowconnect/flow';
import { EventLog } from '@nowconnect/logging';
import { AgentRunner } from './tunnel/agent-runner';

/** The premise agent: no HTTP server; one runner that keeps the tunnel up. */
@Module({})
export class AgentModule {
  static forRoot(config: PremiseConfig, log: EventLog): DynamicModule {
    return {
      module: AgentModule,
      imports: [HaConfigModule.forPremise(config), FramesModule, FlowModule],
      providers: [{ provide: EventLog, useValue: log }, AgentRunner],
    };
  }
}
