/**
 * Reasons a tunnel upgrade is refused (SPEC §5). These strings are the
 * `reason` label values of `nowconnect_tunnel_auth_failures_total`; they are
 * part of the external contract and must not change.
 */
export const AUTH_FAILURE_REASONS = [
  'missing_token',
  'malformed',
  'bad_signature',
  'algorithm',
  'expired',
  'audience',
  'issuer',
  'rate_limited',
] as const;

export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];
