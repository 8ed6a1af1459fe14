// The model downloader: the hub protocol, the shared cache layout, and the presets. No `vscode` here.
export * from './errors';
export { resolveEndpoint, hubCacheDir, RepoCache, DEFAULT_ENDPOINT } from './layout';
export { resolveUrl, normaliseEtag } from './http';
export type { FileMetadata } from './http';
export { downloadFile, downloadFiles } from './download';
export type { DownloadOptions, DownloadProgress, DownloadedFile, Snapshot } from './download';
