import { FrameError, FrameErrorCode } from './frame-error';
import { isValidName } from './control';

/**
 * TARGET_HEALTH (type 0x0c, flow id 0, agent -> hub): the agent's view of its connectors' targets.
 * The payload is one JSON object (at most MAX_CONTROL_PAYLOAD_BYTES), versioned by `v`:
 *
 *   { "v": 1,
 *     "connectors": [
 *       { "name": "addomain",
 *         "targets": [ { "target": "dc1:389", "up": true }, { "target": "dc2:389", "up": false } ],
 *         "failures": { "refused": 3, "timeout": 1 } } ] }
 *
 * - `v` = 1. A hub announces the highest version it reads in HELLO_ACK (`target_health`); an agent
 *   sends nothing to a hub that did not announce it. A body with a higher `v` is refused here
 *   (UNSUPPORTED_VERSION) and the hub ignores it (counted, logged), it does not close the link.
 * - Every frame is a full snapshot of every connector (no deltas): a lost or refused frame is
 *   repaired by the next one.
 * - `target` is the configured `host:port` text (never a resolved address); <= 32 per connector.
 * - `failures`: connect failures of this tunnel since it was established, by reason (closed set
 *   TARGET_FAILURE_REASONS), cumulative; the hub adds the growth to
 *   nowconnect_target_connect_failures_total{connector,reason}.
 */
export const TARGET_HEALTH_VERSION = 1;
export const MAX_TARGETS_PER_CONNECTOR = 32;
const MAX_CONNECTORS = 1024;
const MAX_TARGET_TEXT = 262; // [ipv6]:65535 or a 255-byte DNS name and a port
export const TARGET_FAILURE_REASONS = ['refused', 'timeout', 'dns', 'unreachable', 'reset', 'error'] as const;
export type TargetFailureReason = (typeof TARGET_FAILURE_REASONS)[number];

export interface TargetHealthEntry {
  readonly target: string;
  readonly up: boolean;
}

export interface ConnectorHealth {
  readonly name: string;
  readonly targets: readonly TargetHealthEntry[];
  readonly failures: Readonly<Partial<Record<TargetFailureReason, number>>>;
}

export interface TargetHealthBody {
  readonly v: number;
  readonly connectors: readonly ConnectorHealth[];
}

function invalid(detail: string): FrameError {
  return new FrameError(FrameErrorCode.INVALID_PAYLOAD, `TARGET_HEALTH: ${detail}`, 0);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function decodeTarget(raw: unknown): TargetHealthEntry | FrameError {
  if (!isPlainObject(raw)) return invalid('a target is not an object');
  const { target, up } = raw;
  if (typeof target !== 'string' || target.length === 0 || target.length > MAX_TARGET_TEXT || !/^[A-Za-z0-9.:[\]_-]+$/.test(target)) {
    return invalid('target must be host:port text');
  }
  if (typeof up !== 'boolean') return invalid('up must be true or false');
  return { target, up };
}

function decodeFailures(raw: unknown): ConnectorHealth['failures'] | FrameError {
  if (raw === undefined) return {};
  if (!isPlainObject(raw)) return invalid('failures is not an object');
  const out: Partial<Record<TargetFailureReason, number>> = {};
  for (const [key, value] of Object.entries(raw)) {
    const reason = TARGET_FAILURE_REASONS.find((r) => r === key);
    if (reason === undefined) return invalid('unknown failure reason');
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return invalid('failure counts are integers >= 0');
    out[reason] = value;
  }
  return out;
}

function decodeConnector(raw: unknown): ConnectorHealth | FrameError {
  if (!isPlainObject(raw)) return invalid('a connector is not an object');
  const { name, targets, failures } = raw;
  if (!isValidName(name)) return invalid('connector name is missing or invalid');
  if (!Array.isArray(targets) || targets.length === 0 || targets.length > MAX_TARGETS_PER_CONNECTOR) {
    return invalid(`targets must be a list of 1..${MAX_TARGETS_PER_CONNECTOR}`);
  }
  const list: TargetHealthEntry[] = [];
  for (const t of targets) {
    const entry = decodeTarget(t);
    if (entry instanceof FrameError) return entry;
    if (list.some((e) => e.target === entry.target)) return invalid('duplicate target');
    list.push(entry);
  }
  const f = decodeFailures(failures);
  if (f instanceof FrameError) return f;
  return { name, targets: list, failures: f };
}

/** Pure decoder: never throws; anything not exactly a v1 body is a FrameError. */
export function decodeTargetHealth(payload: Buffer): TargetHealthBody | FrameError {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return invalid('payload is not JSON');
  }
  if (!isPlainObject(value)) return invalid('payload is not a JSON object');
  const { v, connectors } = value;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) return invalid('v must be an integer >= 1');
  if (v !== TARGET_HEALTH_VERSION) return new FrameError(FrameErrorCode.UNSUPPORTED_VERSION, `TARGET_HEALTH: version ${v} not supported`, 0);
  if (!Array.isArray(connectors) || connectors.length > MAX_CONNECTORS) return invalid(`connectors must be a list of at most ${MAX_CONNECTORS}`);
  const out: ConnectorHealth[] = [];
  for (const c of connectors) {
    const entry = decodeConnector(c);
    if (entry instanceof FrameError) return entry;
    if (out.some((e) => e.name === entry.name)) return invalid('duplicate connector');
    out.push(entry);
  }
  return { v, connectors: out };
}
