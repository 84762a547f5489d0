/** The services of the progress and concurrency of pushes and pulls, as the command line reaches them: through this layer. */
export * from '../services/transfer.js';
