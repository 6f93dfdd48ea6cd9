/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal (so `--json` output
 * and CI logs stay clean).
 */
export class ProgressBar {
  private last = -1;
  private readonly enabled: boolean;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = Boolean(stream.isTTY);
  }

  update(done: number, total: number, detail = ''): void {
    if (!this.enabled || total <= 0) return;
    const fraction = Math.min(1, done / total);
    const percent = Math.floor(fraction * 100);
    if (percent === this.last && done < total) return;
    this.last = percent;
    const width = 30;
    const filled = Math.round(fraction * width);
    this.stream.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(percent).padStart(3)}% ${detail}\x1b[K`);
  }

  /** Erase the bar so a line can be printed; the next update draws it again. */
  clear(): void {
    if (!this.enabled || this.last < 0) return;
    this.stream.write('\r\x1b[K');
    this.last = -1;
  }

  finish(): void {
    if (this.enabled && this.last >= 0) this.stream.write('\n');
  }
}
