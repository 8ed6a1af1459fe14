// The visualiser's HTML shell: a strict CSP (nothing but our own stylesheet and one nonce'd
// script), no remote content, no inline style. Pure, so the unit tests can read the policy.
import { randomBytes } from 'node:crypto';

export interface ShellUris {
  /** The webview's `cspSource` (the origin its local resources are served from). */
  cspSource: string;
  script: string;
  style: string;
  nonce: string;
}

/** A fresh script nonce: 128 random bits, base64. */
export function makeNonce(): string {
  return randomBytes(16).toString('base64');
}

/** The Content-Security-Policy of the panel. */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `style-src ${cspSource}`,
    `img-src ${cspSource}`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

const attr = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/** The page the panel loads: the stylesheet, an empty root, and the bundled script. */
export function visualiserHtml(u: ShellUris): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${attr(contentSecurityPolicy(u.cspSource, u.nonce))}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" href="${attr(u.style)}">
  <title>Hasten visualiser</title>
</head>
<body>
  <div id="root"></div>
  <script nonce="${attr(u.nonce)}" src="${attr(u.script)}"></script>
</body>
</html>`;
}
