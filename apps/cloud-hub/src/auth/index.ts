export { AUTH_FAILURE_REASONS, type AuthFailureReason } from './auth-failure';
export { type ConnectorScope, parseConnectorScope, scopeAllows } from './connector-scope';
export { TunnelAuthenticator, type AuthResult, AGENT_ID_PATTERN, CLOCK_TOLERANCE_SEC, MAX_TOKEN_LENGTH } from './tunnel-authenticator';
export { AuthRateLimiter, type AuthRateLimiterOptions } from './auth-rate-limiter';
export { guardUpgradeHeaders, UPGRADE_HEADER_TIMEOUT_MS, type UpgradeHeaderGuard } from './upgrade-header-guard';
export { installUpgradeHeaderGuard } from './install-upgrade-guard';
export { applyRequestTimeout } from './request-timeout';
export { watchKeyFiles, KEY_RELOAD_INTERVAL_MS, type KeyFileWatch } from './key-file-watcher';
