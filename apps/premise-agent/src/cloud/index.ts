export { Backoff, permanentRefusal, permanentRefusalDelay } from './backoff';
export type { BackoffOptions } from './backoff';
export { dialCloud } from './cloud-dialer';
export type { CloudConnection, DialCloudOptions } from './cloud-dialer';
export { CloudConnectError, classifyConnectError } from './connect-error';
export type { CloudConnectErrorOptions, CloudConnectReason } from './connect-error';
export { resolveProxy } from './proxy-resolver';
export { UrlRotation } from './url-rotation';
