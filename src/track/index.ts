// Tracking: every run and sweep recorded in an MLflow file store (and on an MLflow server when
// configured), and read back for `ablate ls`, `ablate compare` and sweep resume.
export { splitBatches } from './batch.js';
export { FileStore, RunFolder } from './file-store.js';
export { flatten, flattenSpec } from './flatten.js';
export { isValidKey, LIMITS, safeKey } from './keys.js';
export { installLifecycle, type LifecycleOptions } from './lifecycle.js';
export { listExperiments, listRuns, readMetricFile, readRun, readStore } from './reader.js';
export { type RecoveredRun, recoverDeadRuns } from './recovery.js';
export { isRestUri, MlflowClient, MlflowError, redactUri, RemoteUnavailableError } from './rest-client.js';
export { remoteRunIdResolver, type StoreSyncSummary, syncRun, syncStore, type SyncResult } from './sync.js';
export { ablateTags, type AblateTagInput, TAG } from './tags.js';
export { localStoreRoot, openTracker, remoteClient, resolveTrackingUri, type StartRunOptions, type TrackedRun, type Tracker, type TrackerOptions } from './tracker.js';
export * from './types.js';
