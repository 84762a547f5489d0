/** The services of the local store's commands, as the command line reaches them: through this layer. */
export * from '../services/store.js';
