/** The services of registry credentials, as the command line reaches them: through this layer. */
export * from '../services/login.js';
