/** The CLI's version, injected from package.json at build time (tsup `define`). */
declare const __KILN_CLI_VERSION__: string | undefined;
export const VERSION: string = typeof __KILN_CLI_VERSION__ === 'string' ? __KILN_CLI_VERSION__ : '0.0.0-dev';
