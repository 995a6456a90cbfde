/**
 * What readiness needs to know of the hub-to-hub mesh. The mesh manager (issue 4) provides it;
 * until then `NO_MESH` says the truth: not running, so an active-mode hub reports itself degraded.
 */
export interface MeshStatus {
  readonly running: boolean;
  /** Links currently up (any direction). */
  linksUp(): number;
}

export const MESH_STATUS = Symbol('MESH_STATUS');

export const NO_MESH: MeshStatus = { running: false, linksUp: () => 0 };
