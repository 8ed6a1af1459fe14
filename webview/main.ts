// The visualiser's browser entry, bundled by esbuild.js into dist/webview.js.
// The panel that loads it, and the trace it draws, arrive with the visualiser issue.

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const root = document.getElementById('root');
if (root) root.textContent = 'Waiting for the first completion trace.';
vscode.setState(vscode.getState() ?? {});
