/** The services of a package's versions at its registry, as the command line reaches them: through this layer. */
export * from '../services/versions.js';
