/** What the data plane reports; apps bind it to Prometheus, tests to a recorder. */
export interface FlowMetrics {
  /** Payload bytes received from the local socket and sent into the tunnel. */
  bytesOut(connector: string, n: number): void;
  /** Payload bytes received from the tunnel and written to the local socket. */
  bytesIn(connector: string, n: number): void;
  finSent(): void;
  finRecv(): void;
  rstSent(): void;
  rstRecv(): void;
}

export const NOOP_FLOW_METRICS: FlowMetrics = {
  bytesOut: () => undefined,
  bytesIn: () => undefined,
  finSent: () => undefined,
  finRecv: () => undefined,
  rstSent: () => undefined,
  rstRecv: () => undefined,
};
