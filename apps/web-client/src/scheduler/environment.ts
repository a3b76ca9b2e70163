import { isMetered } from './eligibility';

/**
 * What the browser says about the device, kept current through its change events: last input in
 * the app, charging (Battery Status API), metered network (Network Information API), online.
 */
interface BatteryManagerLike extends EventTarget {
  charging: boolean;
}
interface ConnectionLike extends EventTarget {
  type?: string;
  saveData?: boolean;
}
interface NavigatorExtras {
  getBattery?: () => Promise<BatteryManagerLike>;
  connection?: ConnectionLike;
}

export interface DeviceSnapshot {
  lastInputAt: number | null;
  charging: boolean | null;
  metered: boolean | null;
  online: boolean;
}

export class DeviceMonitor {
  private snapshot: DeviceSnapshot = { lastInputAt: null, charging: null, metered: null, online: navigator.onLine };
  private readonly cleanups: (() => void)[] = [];

  constructor(private readonly onChange: () => void) {}

  get current(): DeviceSnapshot {
    return this.snapshot;
  }

  idleForMs(now: number): number {
    return this.snapshot.lastInputAt === null ? Number.POSITIVE_INFINITY : now - this.snapshot.lastInputAt;
  }

  private update(change: Partial<DeviceSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...change };
    this.onChange();
  }

  private listen(target: EventTarget, type: string, listener: () => void): void {
    target.addEventListener(type, listener, { passive: true });
    this.cleanups.push(() => target.removeEventListener(type, listener));
  }

  async start(): Promise<void> {
    const input = () => {
      this.snapshot = { ...this.snapshot, lastInputAt: Date.now() };
    };
    for (const type of ['keydown', 'pointerdown', 'input']) this.listen(document, type, input);
    this.listen(window, 'online', () => this.update({ online: true }));
    this.listen(window, 'offline', () => this.update({ online: false }));
    const extras = navigator as Navigator & NavigatorExtras;
    const connection = extras.connection;
    if (connection) {
      this.update({ metered: isMetered(connection) });
      this.listen(connection, 'change', () => this.update({ metered: isMetered(connection) }));
    }
    if (extras.getBattery) {
      try {
        const battery = await extras.getBattery();
        this.update({ charging: battery.charging });
        this.listen(battery, 'chargingchange', () => this.update({ charging: battery.charging }));
      } catch {
        // Blocked by a permissions policy: unknown, like a browser without the API.
      }
    }
  }

  stop(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }
}
