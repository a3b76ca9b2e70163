export { downloadPlanModel, type PlanModelDownloadOptions } from './model-download';
export { prepareContribution, type ContributionOptions, type Contribution, type ContributionReport } from './contribution';
export {
  startParticipant,
  participantStep,
  participantOutcome,
  type ParticipantState,
  type ParticipantStepOptions,
  type ParticipantStepResult,
} from './participant';
export {
  connectParticipant,
  handshakeAuth,
  asParticipantSocket,
  type ParticipantSocket,
  type DeviceEligibility,
  type ParticipantEvent,
  type ParticipantConnectionOptions,
  type ParticipantConnection,
} from './connect';
export {
  checkPlanAgainstPolicy,
  DEFAULT_PLAN_POLICY,
  PRIVACY_OFF_PLAN_POLICY,
  planPolicySchema,
  type PlanCheck,
  type PlanPolicy,
  type PlanRefusal,
  type PlanRefusalCode,
} from './plan-policy';
