"""The installable, offline-first hall counter (issue 20): one page that sells from the last synced
catalogue and stock, queues sales on the tablet and replays them; the hall's day report and sign-off."""
