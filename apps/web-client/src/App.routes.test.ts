import { describe, expect, it } from 'vitest';
import { DASHBOARD_PATH, leaveForDashboard } from './App';

describe('links to the dashboard from before it left the participant app', () => {
  const at = (hash: string) => {
    const replaced: string[] = [];
    return { location: { hash, replace: (url: string | URL) => replaced.push(String(url)) }, replaced };
  };

  it('sends #/dashboard to the dashboard page, replacing the entry so Back does not bounce', () => {
    const { location, replaced } = at('#/dashboard');
    expect(leaveForDashboard(location)).toBe(true);
    expect(replaced).toEqual([DASHBOARD_PATH]);
    expect(DASHBOARD_PATH).toBe('/dashboard');
  });

  it("leaves the app's own routes alone", () => {
    for (const hash of ['', '#/', '#/privacy', '#/settings', '#/dashboard/x']) {
      const { location, replaced } = at(hash);
      expect(leaveForDashboard(location), hash).toBe(false);
      expect(replaced, hash).toEqual([]);
    }
  });
});
