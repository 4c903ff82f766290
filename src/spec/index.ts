// The spec module's public surface: schemas and types, loading with located errors, overrides
// and hashing. Internal files (source, validate, introspect) are not exported.
export { CROPS, BACKENDS } from './sections.js';
export { experimentSchema, sweepSchema, TASKS, type ExperimentInput, type ExperimentSpec, type SweepInput, type SweepSpec } from './schema.js';
export { SpecError, formatIssue, type SpecIssue } from './issues.js';
export { loadSpec, loadSweep, resolveSpec, deepMerge, specKey, type LoadedSpec, type LoadedSweep } from './load.js';
export { parseOverride, splitOverride, setIn, type Override } from './overrides.js';
export { hashOf, shortHash, canonicalJson } from './hash.js';
export { didYouMean } from './suggest.js';
// For tools that report errors inside other YAML files (the sweep file) with the same locations.
export { locate, readYamlLayer, type FileLayer } from './source.js';
