// The model downloader: the hub protocol, the shared cache layout, and the presets. No `vscode` here.
export * from './errors';
export { resolveEndpoint, hubCacheDir, defaultToken, RepoCache, DEFAULT_ENDPOINT } from './layout';
export { resolveUrl, normaliseEtag } from './http';
export type { FileMetadata } from './http';
export { downloadFile, downloadFiles } from './download';
export { disposeHashWorker } from './hasher';
export type { DownloadOptions, DownloadProgress, DownloadedFile, Snapshot } from './download';
export { downloadCheckpoint, shardsOf } from './checkpoint';
export { PRESETS, presetById, dtypeFor, estimateMemory, describeNeeds, memoryWarning, CHECKPOINT_FILES, CHECKPOINT_OPTIONAL } from './presets';
export type { Preset, Device, MemoryEstimate } from './presets';
export { prepareModel, buildKey } from './prepare';
export type { PrepareOptions, PreparedModel } from './prepare';
export { classifyFolder, localSnapshot } from './local';
export type { FolderKind } from './local';
export { ProgressMeter, formatProgress, formatDuration } from './progress';
export { forkBuild } from './buildRunner';
export type { BuildRunner } from './buildRunner';
