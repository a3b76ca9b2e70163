import { describe, expect, it } from 'vitest';
import { UploadMeter } from './participation';

describe('UploadMeter', () => {
  it('is unlimited until the page gives it an allowance', () => {
    const meter = new UploadMeter();
    expect(meter.remaining()).toBeNull();
    expect(meter.fits(10 ** 12)).toBe(true);
    expect(meter.add(500)).toBe(500);
  });

  it('counts sends since the total the page had recorded, once each', () => {
    const meter = new UploadMeter();
    meter.add(1_000);
    // The page recorded the first 1,000 bytes and has 5,000 left in the month's budget.
    meter.setAllowance({ remainingBytes: 5_000, accountedBytes: 1_000 });
    expect(meter.remaining()).toBe(5_000);
    meter.add(3_000);
    expect(meter.remaining()).toBe(2_000);
    expect(meter.fits(2_000)).toBe(true);
    expect(meter.fits(2_001)).toBe(false);
    // A newer allowance that has not yet seen the 3,000 in flight: they still count, not twice.
    meter.setAllowance({ remainingBytes: 5_000, accountedBytes: 1_000 });
    expect(meter.remaining()).toBe(2_000);
    // Once recorded, the page's figure already includes them.
    meter.setAllowance({ remainingBytes: 2_000, accountedBytes: 4_000 });
    expect(meter.remaining()).toBe(2_000);
  });

  it('never reports less than nothing', () => {
    const meter = new UploadMeter();
    meter.setAllowance({ remainingBytes: 100, accountedBytes: 0 });
    meter.add(400);
    expect(meter.remaining()).toBe(0);
    expect(meter.fits(0)).toBe(true);
    expect(meter.fits(1)).toBe(false);
  });
});
