/**
 * The distribution commands' live transfer view on a terminal, fed by events (re-rendered at most
 * every `FRAME_MS`). Imported only when stdout is a TTY, so ink and React stay unloaded for plain
 * and JSON output.
 */
import { render } from 'ink';
import type { TransferEvent } from '../../api/transfer.js';
import { INITIAL_TRANSFER, reduceTransfer, type TransferState } from '../format.js';
import { TransferView } from './transfer.js';

const FRAME_MS = 80;

export interface LiveTransfer {
  readonly onEvent: (e: TransferEvent) => void;
  /** Draws the last frame and lets go of the terminal. */
  stop(): Promise<void>;
}

/** `liveTransfer` starts the push/pull view on `stdout`. */
export function liveTransfer(stdout: NodeJS.WriteStream, verb: 'push' | 'pull'): LiveTransfer {
  let state: TransferState = INITIAL_TRANSFER;
  let frame = 0;
  const elapsed = () => (state.startedAt === undefined ? 0 : Date.now() - state.startedAt);
  const view = (final = false) => (
    <TransferView verb={verb} state={state} elapsedMs={elapsed()} frame={frame} width={stdout.columns || 80} height={stdout.rows || 24} final={final} />
  );
  const instance = render(view(), { stdout, exitOnCtrlC: false, patchConsole: false });
  const timer = setInterval(() => {
    frame++;
    instance.rerender(view());
  }, FRAME_MS);
  return {
    onEvent(e) {
      state = reduceTransfer(state, e, Date.now());
    },
    async stop() {
      clearInterval(timer);
      // Nothing resolves any more: a spinner left in the last frame would stand above the error of
      // a failed transfer. The last frame is drawn whatever render ink still has pending.
      state = { ...state, resolving: undefined };
      instance.rerender(view(true));
      instance.unmount();
      await instance.waitUntilExit();
      // With no blob that frame is an empty line (ink ends each frame with one): step back onto
      // it, so that what follows takes its place.
      if (state.blobs.length === 0) stdout.write('\x1b[1A');
    },
  };
}
