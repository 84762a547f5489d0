/** The pull service (and run's registry references), as the command line reaches it: through this layer. */
export * from '../services/pull.js';
