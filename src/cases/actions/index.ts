// Which action decides a route: one pure function per route kind, each returning a plan. A new
// route kind is a new entry here and a new file beside this one.
export { ignoreLoop, automaticMail, bouncedAddresses, type BounceFacts } from './automatic.js';
export { escalation } from './escalation.js';
export { hold, type HoldFacts } from './hold.js';
export { followUp, type FollowUpFacts } from './follow-up.js';
export { newRequest, newCaseParts } from './new-request.js';
export { engineerMail, type EngineerFacts } from './engineer-mail.js';
export { adminCommand, adminAuthentication } from './admin-command.js';
