"""The playground's web chats in the database: the board every worker shares
(``adapters.chat_board.ChatBoard`` implemented over the ``web_chat_entry`` table)."""
