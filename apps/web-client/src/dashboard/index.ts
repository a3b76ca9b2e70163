/** The round dashboard (route /dashboard): see docs/dashboard.md. */
export { DashboardPage, type DashboardPageProps } from './DashboardPage';
