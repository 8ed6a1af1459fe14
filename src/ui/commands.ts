import type { Ctx } from '../ctx';

/** A command is a factory: it gets the context once and returns the handler VS Code calls. */
export type CommandFactory = (ctx: Ctx) => (...args: unknown[]) => unknown;

/**
 * Every command Hasten contributes, keyed by id. package.json's `contributes.commands`
 * must list exactly these ids (a unit test checks it).
 */
export const commandTable: Readonly<Record<string, CommandFactory>> = {
  'hasten.showLog': (ctx) => () => ctx.log.show(true),
};
