// The splash screen of the dashboard: the logo and the loading messages while the first
// answers come, and, when the read model does not answer, why, with a countdown to the
// next try and a button to try now.

export const LOGO = String.raw`
 _____         _       ___  _                              _
|_   _|_ _ ___| | __  / _ \| |__  ___  ___ _ ____   ____ _| |_ ___  _ __ _   _
  | |/ _' / __| |/ / | | | | '_ \/ __|/ _ \ '__\ \ / / _' | __/ _ \| '__| | | |
  | | (_| \__ \   <  | |_| | |_) \__ \  __/ |   \ V / (_| | || (_) | |  | |_| |
  |_|\__,_|___/_|\_\  \___/|_.__/|___/\___|_|    \_/ \__,_|\__\___/|_|   \__, |
                                                                         |___/`;

export const SPLASH_MESSAGES = [
  "Connecting to services",
  "Fetching statistics",
  "Loading job data",
  "Checking alerts",
];

export function createSplash({ $, HttpError, retryS }) {
  return {
    messageIndex: 0,
    timer: null,
    countdownTimer: null,
    start() {
      $("splash-logo").textContent = LOGO.replace(/^\n/, "");
      this.show(0);
      this.timer = setInterval(() => this.show((this.messageIndex + 1) % SPLASH_MESSAGES.length), 900);
    },
    show(index) {
      this.messageIndex = index;
      $("splash-message").textContent = `${SPLASH_MESSAGES[index]}…`;
    },
    fail(error, retry) {
      clearInterval(this.timer);
      clearInterval(this.countdownTimer);
      const where = window.location.origin;
      const why = error instanceof HttpError ? `it answered ${error.status}: ${error.message}` : `${error.message || error}`;
      $("splash-message").textContent = "Cannot reach the Task Observatory API";
      $("splash-error-text").textContent = `The read model at ${where} did not answer (${why}).`;
      $("splash-error").hidden = false;
      let left = retryS;
      $("splash-countdown").textContent = String(left);
      this.countdownTimer = setInterval(() => {
        left -= 1;
        $("splash-countdown").textContent = String(Math.max(left, 0));
        if (left <= 0) {
          clearInterval(this.countdownTimer);
          retry();
        }
      }, 1000);
      $("splash-retry").onclick = () => {
        clearInterval(this.countdownTimer);
        retry();
      };
    },
    hide() {
      clearInterval(this.timer);
      clearInterval(this.countdownTimer);
      $("splash").hidden = true;
      $("app").hidden = false;
    },
  };
}
