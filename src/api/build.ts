/** The services of building a package directory, as the command line reaches them: through this layer. */
export * from '../services/build.js';
