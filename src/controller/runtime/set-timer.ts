export { nodeSetTimer, type SetTimer } from '../../store/set-timer.js';
