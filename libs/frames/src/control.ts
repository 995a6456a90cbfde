import { FrameError, FrameErrorCode } from './frame-error';
import { HEADER_BYTES, MAX_CONNECTOR_NAME_BYTES, MAX_CONTROL_PAYLOAD_BYTES, RstReason } from './frame-types';

/** HELLO: the agent says who it is and which connectors it serves. */
export interface HelloBody {
  readonly agent_id: string;
  readonly connectors: readonly string[];
  readonly version: string;
  /**
   * Replica ids this agent process already holds a link to (absent from older agents and with
   * `links: 1`). A hub whose own id is listed refuses the HELLO as a duplicate link (close 4009).
   */
  readonly held_replicas?: readonly string[];
  /**
   * A stripe: an extra connection of a link this agent already holds, named by the `stripe_key` the
   * hub sent in that link's HELLO_ACK. The hub carries some of the link's flows on it (each flow
   * stays on one connection), so one TCP send buffer no longer caps the link. Several keys (the
   * agent's links that want a stripe, one per replica): behind a load balancer the connection joins
   * whichever of them the replica it reached holds, and that link's key comes back in HELLO_ACK.
   */
  readonly stripe_of?: readonly string[];
}

/** At most this many held_replicas in a HELLO (premise `links` allows 1..8). */
export const MAX_HELD_REPLICAS = 16;
/** Highest alive-replica count a HELLO_ACK may announce. */
export const MAX_ACK_REPLICAS = 1024;
/** At most this many keys in a HELLO `stripe_of` (one per link; premise `links` allows 1..8). */
export const MAX_STRIPE_OF_KEYS = 16;
/** Most connections (the link's own plus its stripes) a HELLO_ACK may offer per link. */
export const MAX_ACK_STRIPES = 16;
/** A stripe key: 128 random bits, lowercase hex. */
export const STRIPE_KEY_PATTERN = /^[0-9a-f]{32}$/;

/** HELLO_ACK: the hub accepts and states the session's limits. */
export interface HelloAckBody {
  readonly replica_id: string;
  readonly flow_window_bytes: number;
  readonly max_frame_bytes: number;
  readonly keepalive_sec: number;
  /** HA: the ownership epoch the hub holds for this agent (absent with HA off or registry down). */
  readonly epoch?: number;
  /**
   * Ceiling of a flow's auto-tuned receive window (limits.max_flow_window_bytes); absent from
   * older hubs (the agent uses its default). Each receiver sizes its own window: not a wire limit.
   */
  readonly max_flow_window_bytes?: number;
  /** The hub accepts REAUTH frames (in-band re-authentication before the token expires). */
  readonly reauth?: boolean;
  /** Highest TARGET_HEALTH body version the hub understands (absent: an older hub, send none). */
  readonly target_health?: number;
  /**
   * Alive hub replicas the hub knows of (1 with HA off): the agent holds no more links than this
   * through one URL. Absent from older hubs (the agent then assumes 1).
   */
  readonly replicas?: number;
  /**
   * The hub takes stripes of this link (HELLO `stripe_of`): the key to name it by and the most
   * connections per link it accepts, this one included. Absent from older hubs (the agent opens no
   * stripes then). On a stripe's own HELLO_ACK: the key of the link it joined (one of its `stripe_of`).
   */
  readonly stripe_key?: string;
  readonly stripes?: number;
}

/** REAUTH: a fresh token for the running tunnel. */
export interface ReauthBody {
  readonly token: string;
}

/** GOAWAY: the sender is draining; no new flows on this session. */
export interface GoawayBody {
  readonly reason: string;
}

/**
 * The limits a HELLO_ACK may announce (the same ranges the hub's config allows).
 * Outside them the agent's data plane breaks: a frame limit with no room for
 * DATA (max data payload <= 0) spins the flow pump forever; a window past 2^31
 * overflows the flow's credit; a keepalive past 2^31 ms is clamped by Node to 1 ms.
 */
const ACK_MIN_FRAME_BYTES = HEADER_BYTES + MAX_CONTROL_PAYLOAD_BYTES;
const ACK_MAX_FRAME_BYTES = 64 * 1024 * 1024;
const ACK_MAX_WINDOW_BYTES = 1024 * 1024 * 1024;
const ACK_MAX_KEEPALIVE_SEC = 3600;

/** The one rule for agent ids, connector and listener names (wire, config and token `sub`). */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name);
}

function parseJson(payload: Buffer, what: string): Record<string, unknown> | FrameError {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return new FrameError(FrameErrorCode.INVALID_PAYLOAD, `${what}: payload is not JSON`, 0);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return new FrameError(FrameErrorCode.INVALID_PAYLOAD, `${what}: payload is not a JSON object`, 0);
  }
  return value as Record<string, unknown>;
}

export function decodeHello(payload: Buffer): HelloBody | FrameError {
  const obj = parseJson(payload, 'HELLO');
  if (obj instanceof FrameError) return obj;
  const { agent_id, connectors, version, held_replicas, stripe_of } = obj;
  if (!isValidName(agent_id)) return new FrameError(FrameErrorCode.INVALID_PAYLOAD, 'HELLO: agent_id is missing or invalid', 0);
  if (!Array.isArray(connectors) || connectors.length === 0 || connectors.length > 1024 || !connectors.every(isValidName)) {
    return new FrameError(FrameErrorCode.INVALID_PAYLOAD, 'HELLO: connectors must be a non-empty list of names', 0);
  }
  if (held_replicas !== undefined && (!Array.isArray(held_replicas) || held_replicas.length > MAX_HELD_REPLICAS || !held_replicas.every(isValidName))) {
    return new FrameError(FrameErrorCode.INVALID_PAYLOAD, `HELLO: held_replicas must be a list of at most ${MAX_HELD_REPLICAS} names`, 0);
  }
  if (stripe_of !== undefined && (!Array.isArray(stripe_of) || stripe_of.length === 0 || stripe_of.length > MAX_STRIPE_OF_KEYS || !stripe_of.every(isStripeKey))) {
    return new FrameError(FrameErrorCode.INVALID_PAYLOAD, `HELLO: stripe_of must be a list of 1 to ${MAX_STRIPE_OF_KEYS} stripe keys (32 lowercase hex digits)`, 0);
  }
  return {
    agent_id,
    connectors: [...new Set(connectors as string[])],
    version: typeof version === 'string' ? version.slice(0, 64) : 'unknown',
    ...(held_replicas === undefined ? {} : { held_replicas: [...new Set(held_replicas as string[])] }),
    ...(stripe_of === undefined ? {} : { stripe_of: [...new Set(stripe_of as string[])] }),
  };
}

export function decodeHelloAck(payload: Buffer): HelloAckBody | FrameError {
  const obj = parseJson(payload, 'HELLO_ACK');
  if (obj instanceof FrameError) return obj;
  const { replica_id, flow_window_bytes, max_frame_bytes, keepalive_sec, epoch, max_flow_window_bytes, reauth, target_health, replicas, stripe_key, stripes } = obj;
  if (
    typeof replica_id !== 'string' ||
    !isIntIn(flow_window_bytes, 1, ACK_MAX_WINDOW_BYTES) ||
    !isIntIn(max_frame_bytes, ACK_MIN_FRAME_BYTES, ACK_MAX_FRAME_BYTES) ||
    !isIntIn(keepalive_sec, 1, ACK_MAX_KEEPALIVE_SEC) ||
    (epoch !== undefined && !isIntIn(epoch, 1, Number.MAX_SAFE_INTEGER)) ||
    (max_flow_window_bytes !== undefined && !isIntIn(max_flow_window_bytes, 1, ACK_MAX_WINDOW_BYTES)) ||
    (replicas !== undefined && !isIntIn(replicas, 1, MAX_ACK_REPLICAS)) ||
    (stripe_key !== undefined && !isStripeKey(stripe_key)) ||
    (stripes !== undefined && !isIntIn(stripes, 1, MAX_ACK_STRIPES)) ||
    (stripe_key === undefined) !== (stripes === undefined)
  ) {
    return new FrameError(FrameErrorCode.INVALID_PAYLOAD, 'HELLO_ACK: missing or invalid fields', 0);
  }
  const ack: HelloAckBody = { replica_id, flow_window_bytes, max_frame_bytes, keepalive_sec };
  return {
    ...ack,
    ...(epoch === undefined ? {} : { epoch }),
    ...(max_flow_window_bytes === undefined ? {} : { max_flow_window_bytes }),
    ...(reauth === true ? { reauth: true } : {}),
    // An unknown or malformed value only means "no TARGET_HEALTH" (forward compatible, never a refusal).
    ...(isIntIn(target_health, 1, 255) ? { target_health } : {}),
    ...(replicas === undefined ? {} : { replicas }),
    ...(stripe_key === undefined ? {} : { stripe_key, stripes: stripes as number }),
  };
}

export function isStripeKey(value: unknown): value is string {
  return typeof value === 'string' && STRIPE_KEY_PATTERN.test(value);
}

export function decodeReauth(payload: Buffer): ReauthBody | FrameError {
  const obj = parseJson(payload, 'REAUTH');
  if (obj instanceof FrameError) return obj;
  if (typeof obj.token !== 'string' || obj.token.length === 0) return new FrameError(FrameErrorCode.INVALID_PAYLOAD, 'REAUTH: token is missing', 0);
  return { token: obj.token };
}

export function decodeGoaway(payload: Buffer): GoawayBody {
  if (payload.length === 0) return { reason: 'unspecified' };
  const obj = parseJson(payload, 'GOAWAY');
  if (obj instanceof FrameError || typeof obj.reason !== 'string') return { reason: 'unspecified' };
  return { reason: obj.reason.slice(0, 128) };
}

/** OPEN's payload is the connector name in UTF-8. */
export function decodeOpen(payload: Buffer): string | FrameError {
  const name = payload.toString('utf8');
  if (payload.length > MAX_CONNECTOR_NAME_BYTES || !isValidName(name)) {
    return new FrameError(FrameErrorCode.INVALID_PAYLOAD, 'OPEN: invalid connector name', 0);
  }
  return name;
}

export function decodeRstReason(payload: Buffer): RstReason {
  const code = payload.length === 1 ? payload[0]! : RstReason.UNSPECIFIED;
  return code in RstReason ? (code as RstReason) : RstReason.UNSPECIFIED;
}

export function decodeWindowIncrement(payload: Buffer): number {
  return payload.readUInt32BE(0);
}

function isIntIn(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}
