// Owns the Kubernetes client's defaults, shared by the lazily loaded client (client.ts) and the light
// entry point (index.ts): here so that imports run one way, index.ts → client.ts, never back.

/** Per-request bound when kubernetes.requestTimeout is not given (its default in settings.ts is the same 5s). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000
