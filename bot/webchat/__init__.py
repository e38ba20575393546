"""The playground's web chats in the database: the board every worker shares
(``adapters.web.chatlog.ChatBoard`` implemented over the ``web_chat_entry`` table)."""
