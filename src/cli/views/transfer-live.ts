/**
 * The TTY output of `ebpm push`, `pull` and `cp`: transfer events folded into the view's state,
 * redrawn (transfer-screen.ts, in a live-region.ts region) every `FRAME_MS` for the spinner and
 * the rates, and at once when the terminal is resized.
 */
import type { TransferEvent } from '../../api/transfer.js';
import { INITIAL_TRANSFER, reduceTransfer, type TransferState } from '../format.js';
import { liveRegion } from './live-region.js';
import { transferScreen } from './transfer-screen.js';

const FRAME_MS = 80;

export interface LiveTransfer {
  readonly onEvent: (e: TransferEvent) => void;
  /** Draws the last frame, which stays on the terminal, and lets go of it. */
  stop(): void;
}

/** `liveTransfer` starts the view on `stdout`; `color`: whether it is drawn in its colours (`paints`). */
export function liveTransfer(stdout: NodeJS.WriteStream, verb: 'push' | 'pull', color: boolean): LiveTransfer {
  let state: TransferState = INITIAL_TRANSFER;
  let frame = 0;
  const region = liveRegion(stdout, color);
  const draw = (final = false) =>
    region.draw(
      transferScreen({
        verb,
        state,
        elapsedMs: state.startedAt === undefined ? 0 : Date.now() - state.startedAt,
        frame,
        width: stdout.columns || 80,
        height: stdout.rows || 24,
        final,
      }),
    );
  const resized = () => draw();
  draw();
  const timer = setInterval(() => {
    frame++;
    draw();
  }, FRAME_MS);
  stdout.on('resize', resized);
  return {
    onEvent(e) {
      state = reduceTransfer(state, e, Date.now());
    },
    stop() {
      clearInterval(timer);
      stdout.off('resize', resized);
      // Nothing resolves any more: a spinner left in the last frame would stand above the error of
      // a failed transfer. A transfer with no blob leaves no line at all.
      state = { ...state, resolving: undefined };
      draw(true);
      region.done();
    },
  };
}
