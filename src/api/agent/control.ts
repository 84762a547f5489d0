/** The services of the agent's control socket (ps, logs, stop, start), as the command line reaches them: through this layer. */
export * from '../../services/agent/control.js';
