/**
 * Every command Hasten contributes. package.json's `contributes.commands` must list exactly these
 * (a unit test checks it) and commands.ts must have a handler for each (the type checks it).
 * This file has no vscode import, so the tests can read it.
 */
export const COMMAND_IDS = [
  'hasten.toggle',
  'hasten.selectStrategy',
  'hasten.selectModel',
  'hasten.selectProvider',
  'hasten.tune',
  'hasten.benchmark',
  'hasten.showLog',
  'hasten.openVisualiser',
  'hasten.showMenu',
  'hasten.downloadModel',
  'hasten.setHubToken',
] as const;

export type CommandId = (typeof COMMAND_IDS)[number];
