"""The FAQ web page: the bot's answers, for today's date, in English and Kiswahili."""
