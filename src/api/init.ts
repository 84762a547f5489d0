/** The services of a package directory from a template, as the command line reaches them: through this layer. */
export * from '../services/init.js';
