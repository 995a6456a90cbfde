export { AUTH_FAILURE_REASONS, type AuthFailureReason } from './auth-failure';
export { type ConnectorScope, parseConnectorScope, scopeAllows } from './connector-scope';
export { TunnelAuthenticator, type AuthResult, AGENT_ID_PATTERN, CLOCK_TOLERANCE_SEC, MAX_TOKEN_LENGTH } from './tunnel-authenticator';
export { AuthRateLimiter, type AuthRateLimiterOptions } from './auth-rate-limiter';
