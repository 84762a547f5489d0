/** The services of references resolved in the store and at registries, as the command line reaches them: through this layer. */
export * from '../services/resolve.js';
