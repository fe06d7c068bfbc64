/** torchlet's version, as in package.json (a test keeps the two equal); the core cannot read files. */
export const VERSION = '0.1.0';
