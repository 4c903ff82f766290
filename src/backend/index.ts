// Training backend: selection at start-up and the wasm kernels that make conv training fast.
// Usage: `const backend = await initBackend(spec.train.backend ?? 'auto'); tags.backend = backend.name;`
export {
  BACKEND_ORDER,
  type BackendInfo,
  type BackendLoader,
  type BackendName,
  type BackendRequest,
  BackendUnavailableError,
  currentBackend,
  formatBackend,
  INSTALL_HINTS,
  initBackend,
  parallelisesItself,
  selectBackend,
} from './select.js';
export { registerWasmKernels } from './kernels/index.js';
