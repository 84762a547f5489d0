/** The services of publishing packages, as the command line reaches them: through this layer. */
export * from '../services/push.js';
