/**
 * Owner-epoch fence (seed "Ownership and epoch fencing"). The owner hub
 * accepts a mesh frame for an agent only when the frame's epoch is the
 * agent's current owner epoch on this hub; anything else (an older epoch, a
 * newer one it has not seen, or an agent it does not own) is rejected and
 * counted (nowconnect_owner_epoch_mismatch_total).
 */
export type EpochLookup = (agentId: string) => number | undefined;

export class EpochFence {
  private mismatchCount = 0;

  constructor(
    private readonly currentEpoch: EpochLookup,
    private readonly onMismatch: (agentId: string, got: number, current: number | undefined) => void = () => undefined,
  ) {}

  /** True when `epoch` is `agentId`'s current owner epoch here. */
  accept(agentId: string, epoch: number): boolean {
    const current = this.currentEpoch(agentId);
    if (current !== undefined && current === epoch) return true;
    this.reject(agentId, epoch, current);
    return false;
  }

  /** For frames checked against a known epoch (the origin side checks a flow's frames against its open's epoch). */
  acceptExpected(agentId: string, epoch: number, expected: number): boolean {
    if (epoch === expected) return true;
    this.reject(agentId, epoch, expected);
    return false;
  }

  get mismatches(): number {
    return this.mismatchCount;
  }

  private reject(agentId: string, got: number, current: number | undefined): void {
    this.mismatchCount++;
    this.onMismatch(agentId, got, current);
  }
}
