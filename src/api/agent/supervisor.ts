/** The services of the agent's supervisor of one instance, as the command line reaches them: through this layer. */
export * from '../../services/agent/supervisor.js';
