/** The services of copying a package between registries, as the command line reaches them: through this layer. */
export * from '../services/cp.js';
