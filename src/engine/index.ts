// The engine's public surface. The VS Code glue and the CLI import from here only.
export { Engine, DEFAULT_DECODE } from './engine';
export type { EngineOptions, CompletionRequest, CompletionUpdate, DecodeSettings } from './engine';
export { STRATEGIES, STRATEGY_IDS, isStrategy } from './strategies';
export { CONFIDENCE_MEASURES, MEASURE_INFO } from './decoders/confidence';
export type { ConfidenceMeasure } from './decoders/confidence';
export { SKIPPED_KV } from './model/layered';
export type { SkippedKv } from './model/layered';
export type { Strategy, StrategyInfo } from './strategies';
export { PROVIDERS, availableProviders } from './model/session';
export { ONNX_DTYPES } from './model/folder';
export type { OnnxDtype } from './model/folder';
export type { Provider } from './model/session';
export { HastenError, isAbortError } from './errors';
export { GREEDY } from './sampling';
export type { SamplingOptions } from './sampling';
export { summarise } from './trace';
export type { CompletionTrace, StepTrace, TraceNode, TraceSummary } from './trace';
export { draftsFor, sameVocabulary } from './model/vocabulary';
