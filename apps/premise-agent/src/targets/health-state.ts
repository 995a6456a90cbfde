/**
 * One target's health verdict from consecutive check results: `fall` failures in a row turn an up
 * target down, `rise` passes in a row turn a down target up; one opposite result resets the run.
 * Starts up (a freshly started agent serves at once; a dead target is found within `fall` checks,
 * and meanwhile a failed dial still moves the flow on to the next target).
 */
export class HealthState {
  private run = 0;
  up = true;
  /** The outcome of the last check that failed, for the target_unhealthy event. */
  lastFailure: string | undefined;

  constructor(
    private readonly fall: number,
    private readonly rise: number,
  ) {}

  /** Records one check; true when the verdict changed. */
  observe(ok: boolean, failure?: string): boolean {
    if (!ok) this.lastFailure = failure;
    if (ok === this.up) {
      this.run = 0;
      return false;
    }
    this.run++;
    if (this.run < (this.up ? this.fall : this.rise)) return false;
    this.up = ok;
    this.run = 0;
    return true;
  }
}
