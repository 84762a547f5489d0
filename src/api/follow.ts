/** The services of run --follow: whether a newer version is out, as the command line reaches them: through this layer. */
export * from '../services/follow.js';
